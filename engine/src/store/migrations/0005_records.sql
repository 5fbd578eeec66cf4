-- Documents kept by extensions (experiment runs, the model registry): JSON by collection and
-- key, with a version for compare-and-swap.
CREATE TABLE records (
    collection TEXT NOT NULL,
    record_key TEXT NOT NULL,
    version BIGINT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (collection, record_key)
);
