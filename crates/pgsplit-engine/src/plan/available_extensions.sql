SELECT name FROM pg_available_extensions ORDER BY name
