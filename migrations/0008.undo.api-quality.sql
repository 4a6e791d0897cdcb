DROP INDEX items_name_trgm_idx;
