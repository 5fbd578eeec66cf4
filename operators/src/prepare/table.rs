//! Reading typed columns out of raw record batches, with errors that name the column.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};

use super::PrepareError;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Rows of raw data, read column by column.
pub(crate) struct Table<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Table<'a> {
    pub(crate) fn new(batch: &'a RecordBatch) -> Self {
        Table { batch }
    }

    pub(crate) fn batch(&self) -> &'a RecordBatch {
        self.batch
    }

    pub(crate) fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.batch.column_by_name(name).is_some()
    }

    fn column(&self, name: &str, role: &str) -> Result<&'a dyn Array, PrepareError> {
        self.batch
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| PrepareError::missing(self.batch, name, role))
    }

    fn cast(
        &self,
        name: &str,
        role: &str,
        to: &DataType,
    ) -> Result<arrow::array::ArrayRef, PrepareError> {
        let col = self.column(name, role)?;
        cast(col, to).map_err(|e| PrepareError::ColumnType {
            column: name.to_string(),
            found: col.data_type().to_string(),
            wanted: format!("{role} ({e})"),
        })
    }

    /// A numeric (or date) column as floats; nulls and NaNs are `NaN`.
    pub(crate) fn numbers(&self, name: &str, role: &str) -> Result<Vec<f64>, PrepareError> {
        let col = self.column(name, role)?;
        if matches!(
            col.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
        ) {
            return Err(PrepareError::ColumnType {
                column: name.to_string(),
                found: col.data_type().to_string(),
                wanted: format!("{role} (a number)"),
            });
        }
        crate::columns::floats(col).map_err(|e| PrepareError::ColumnType {
            column: name.to_string(),
            found: col.data_type().to_string(),
            wanted: format!("{role} ({e})"),
        })
    }

    /// A text column; nulls are `None`.
    pub(crate) fn texts(
        &self,
        name: &str,
        role: &str,
    ) -> Result<Vec<Option<String>>, PrepareError> {
        let col = self.cast(name, role, &DataType::Utf8)?;
        Ok(col
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    }

    /// A timestamp column as microseconds since the epoch (UTC); nulls are `None`.
    pub(crate) fn micros(&self, name: &str, role: &str) -> Result<Vec<Option<i64>>, PrepareError> {
        let col = self.column(name, role)?;
        if !matches!(
            col.data_type(),
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        ) {
            return Err(PrepareError::ColumnType {
                column: name.to_string(),
                found: col.data_type().to_string(),
                wanted: format!("{role} (a timestamp)"),
            });
        }
        let us = self.cast(
            name,
            role,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let ints = cast(&us, &DataType::Int64).map_err(|e| PrepareError::ColumnType {
            column: name.to_string(),
            found: col.data_type().to_string(),
            wanted: format!("{role} ({e})"),
        })?;
        Ok(ints.as_primitive::<Int64Type>().iter().collect())
    }
}

/// Hour of the day (0–23) of a UTC timestamp in microseconds.
pub(crate) fn hour(us: i64) -> f64 {
    (us.rem_euclid(MICROS_PER_DAY) / 3_600_000_000) as f64
}

/// Day of the week, Monday = 0 … Sunday = 6, of a UTC timestamp in microseconds.
pub(crate) fn day_of_week(us: i64) -> f64 {
    // 1970-01-01 was a Thursday (3 when Monday is 0).
    ((us.div_euclid(MICROS_PER_DAY) + 3).rem_euclid(7)) as f64
}

/// Days between two timestamps in microseconds.
pub(crate) fn days_between(from: i64, to: i64) -> f64 {
    (to - from) as f64 / MICROS_PER_DAY as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Utc};

    #[test]
    fn calendar_fields_agree_with_chrono() {
        for secs in [0i64, 1_700_000_123, 1_767_225_599, -86_399, 1_800_000_000] {
            let t = Utc.timestamp_opt(secs, 0).unwrap();
            let us = secs * 1_000_000;
            assert_eq!(hour(us), f64::from(t.hour()), "{t}");
            assert_eq!(
                day_of_week(us),
                f64::from(t.weekday().num_days_from_monday()),
                "{t}"
            );
        }
        assert_eq!(days_between(0, MICROS_PER_DAY * 3 / 2), 1.5);
    }
}
