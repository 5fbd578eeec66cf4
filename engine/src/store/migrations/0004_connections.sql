-- Named connections (Airflow's): a URL and extra settings, secrets included; never printed.
CREATE TABLE connections (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    extra TEXT NOT NULL
);
