-- ms_plugin's own tables (prefixed ms_). Deleting an enterprise removes them (ON DELETE CASCADE).
SELECT 1;
