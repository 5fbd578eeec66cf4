//! Feature tables: the prepared Parquet columns as one column-major block of floats, which is
//! what smartcore's `DenseMatrix` takes without copying row by row.

use arrow::array::{Array, RecordBatch};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::MlError;

/// Rows × named float columns, column-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    rows: usize,
    columns: Vec<String>,
    data: Vec<f64>,
}

impl Table {
    /// The `columns` of `batch`, in that order.
    ///
    /// # Errors
    /// A missing or non-numeric column, or a missing value in one.
    pub fn from_batch(batch: &RecordBatch, columns: &[String]) -> Result<Table, MlError> {
        let rows = batch.num_rows();
        let mut data = Vec::with_capacity(rows * columns.len());
        for name in columns {
            data.extend(numbers(batch, name)?);
            if data[data.len() - rows..].iter().any(|v| v.is_nan()) {
                return Err(MlError::Data(format!(
                    "feature `{name}` has missing values: prepare the data with prepare_data first"
                )));
            }
        }
        Ok(Table {
            rows,
            columns: columns.to_vec(),
            data,
        })
    }

    /// From columns of equal length.
    pub fn from_columns(columns: Vec<String>, values: &[Vec<f64>]) -> Table {
        let rows = values.first().map_or(0, Vec::len);
        Table {
            rows,
            columns,
            data: values.concat(),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The chosen rows, in the order given.
    pub fn subset(&self, rows: &[usize]) -> Table {
        let mut data = Vec::with_capacity(rows.len() * self.columns.len());
        for c in 0..self.columns.len() {
            let col = &self.data[c * self.rows..(c + 1) * self.rows];
            data.extend(rows.iter().map(|r| col[*r]));
        }
        Table {
            rows: rows.len(),
            columns: self.columns.clone(),
            data,
        }
    }

    /// As a smartcore matrix (a copy; see [`Table::into_matrix`]).
    pub fn matrix(&self) -> DenseMatrix<f64> {
        self.clone().into_matrix()
    }

    /// As a smartcore matrix, without copying the values.
    pub fn into_matrix(self) -> DenseMatrix<f64> {
        let cols = self.columns.len();
        DenseMatrix::new(self.rows, cols, self.data, true)
            .unwrap_or_else(|e| unreachable!("rows × columns = data: {e}"))
    }
}

/// A numeric column as floats, nulls as NaN.
///
/// # Errors
/// The column is missing or not numeric.
pub fn numbers(batch: &RecordBatch, name: &str) -> Result<Vec<f64>, MlError> {
    let col = batch.column_by_name(name).ok_or_else(|| {
        MlError::Data(format!(
            "no column `{name}` in the prepared data (its columns: {})",
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    crate::columns::floats(col).map_err(|e| {
        MlError::Data(format!(
            "column `{name}` ({}) is not numeric: {e}",
            col.data_type()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartcore::linalg::basic::arrays::Array;

    #[test]
    fn subsets_keep_columns_and_the_matrix_is_column_major() {
        let t = Table::from_columns(
            vec!["a".into(), "b".into()],
            &[vec![1.0, 2.0, 3.0], vec![10.0, 20.0, 30.0]],
        );
        let s = t.subset(&[2, 0]);
        let m = s.matrix();
        assert_eq!(m.shape(), (2, 2));
        assert_eq!(*m.get((0, 0)), 3.0);
        assert_eq!(*m.get((1, 1)), 10.0);
        assert_eq!(*m.get((0, 1)), 30.0);
    }
}
