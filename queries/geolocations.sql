-- name: GeolocationUpsert :exec
INSERT INTO geolocations (agent_id, lat, lon)
VALUES ($1, $2, $3)
ON CONFLICT (agent_id) DO UPDATE
SET lat = excluded.lat, lon = excluded.lon, updated_at = now()
WHERE (geolocations.lat, geolocations.lon) IS DISTINCT FROM (excluded.lat, excluded.lon);

-- name: GeolocationDelete :exec
DELETE FROM geolocations WHERE agent_id = $1;
