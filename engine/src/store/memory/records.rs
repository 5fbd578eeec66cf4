//! The [`RecordStore`] of a [`MemoryStore`]: extensions' records, compare-and-swap by
//! version, all written or none.

use async_trait::async_trait;
use chrono::Utc;

use super::MemoryStore;
use crate::store::{Expect, Record, RecordStore, RecordWrite, StoreError};

#[async_trait]
impl RecordStore for MemoryStore {
    async fn record(&self, collection: &str, key: &str) -> Result<Option<Record>, StoreError> {
        Ok(self
            .data()
            .records
            .get(&(collection.to_string(), key.to_string()))
            .cloned())
    }

    async fn records(&self, collection: &str, prefix: &str) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .data()
            .records
            .range((collection.to_string(), prefix.to_string())..)
            .take_while(|((c, k), _)| c == collection && k.starts_with(prefix))
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let mut d = self.data();
        // Check every condition first, so that a failing write leaves everything unchanged.
        let mut next = Vec::with_capacity(writes.len());
        for w in writes {
            let k = (w.collection.clone(), w.key.clone());
            // As SQL does: the first of a batch's writes of one key to ensure it wins.
            let written_before = next
                .iter()
                .flatten()
                .any(|(n, _): &((String, String), i64)| *n == k);
            let version = match (w.expect, d.records.get(&k)) {
                (Expect::Ensure, _) if written_before => {
                    next.push(None);
                    continue;
                }
                (Expect::Ensure, Some(_)) => {
                    next.push(None);
                    continue;
                }
                (Expect::Absent | Expect::Ensure, None) => 1,
                (Expect::Version(v), Some(r)) if r.version == v => v + 1,
                _ => return Err(w.conflict()),
            };
            next.push(Some((k, version)));
        }
        let now = Utc::now();
        for (w, (k, version)) in writes.iter().zip(next).filter_map(|(w, n)| Some((w, n?))) {
            d.records.insert(
                k,
                Record {
                    collection: w.collection.clone(),
                    key: w.key.clone(),
                    version,
                    value: w.value.clone(),
                    updated_at: now,
                },
            );
        }
        Ok(())
    }
}
