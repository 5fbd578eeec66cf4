//! Scoring new raw rows with a registered model: the stored preprocessing, then the model.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use super::{Loaded, RegistryError};
use crate::ml::Task;
use crate::ml::table::Table;
use crate::ml::{MlError, Model};

impl Loaded {
    /// The rows of `raw` with the model's output appended: `prediction` (the class, or the
    /// value), and for a class the probability of each class — `probability` (of the positive
    /// class) with two classes, `probability_<class>` with more. Output columns the rows
    /// already have (scored before) are replaced.
    ///
    /// # Errors
    /// A column the preprocessing needs is missing or mistyped, rows whose features cannot be
    /// computed (a null timestamp the model's features come from: no number to score rather
    /// than a `NaN` prediction), or the model cannot predict.
    pub fn score(&self, raw: &RecordBatch) -> Result<RecordBatch, RegistryError> {
        let features = self.metadata.preprocessor.transform(raw)?;
        for (name, column) in features.columns.iter().zip(&features.values) {
            let mut bad = column.iter().enumerate().filter(|(_, v)| !v.is_finite());
            if let Some((first, _)) = bad.next() {
                return Err(MlError::Data(format!(
                    "{} of {} rows cannot be scored: feature `{name}` has no value for them \
                     (the first is row {first}); a column it is computed from is null or out of \
                     range there: fill or drop those rows",
                    bad.count() + 1,
                    column.len()
                ))
                .into());
            }
        }
        if features.columns != self.model.info.feature_columns {
            return Err(MlError::Data(format!(
                "the preprocessing gives other columns than model version {} reads",
                self.version.version
            ))
            .into());
        }
        let x = Table::from_columns(features.columns, &features.values).into_matrix();
        let info = &self.model.info;
        let fail = |e: String| RegistryError::Ml(MlError::Fit(e));
        let scores = self.model.scores(&x).map_err(fail)?;
        let proba = Model::probabilities(&scores);
        let predicted = self.model.predictions(scores);
        let mut fields: Vec<Field> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        let integral = info.classes.iter().all(|c| c.fract() == 0.0);
        if info.task == Task::Classification && integral {
            fields.push(Field::new("prediction", DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(
                predicted.iter().map(|v| *v as i64),
            )));
        } else {
            fields.push(Field::new("prediction", DataType::Float64, false));
            columns.push(Arc::new(Float64Array::from(predicted)));
        }
        if info.task == Task::Classification {
            if info.classes.len() == 2 {
                fields.push(Field::new("probability", DataType::Float64, false));
                columns.push(Arc::new(Float64Array::from_iter_values(
                    proba.iter().map(|p| p[1]),
                )));
            } else {
                for (i, c) in info.classes.iter().enumerate() {
                    fields.push(Field::new(
                        format!("probability_{c}"),
                        DataType::Float64,
                        false,
                    ));
                    columns.push(Arc::new(Float64Array::from_iter_values(
                        proba.iter().map(|p| p[i]),
                    )));
                }
            }
        }
        // Rows scored before keep their columns but not their old outputs: the new ones
        // replace them (two `prediction` columns would be a file no reader accepts).
        let outputs: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        let schema = raw.schema();
        let kept = schema
            .fields()
            .iter()
            .zip(raw.columns())
            .filter(|(f, _)| !outputs.contains(f.name()));
        let (mut all_fields, mut all_columns): (Vec<Field>, Vec<ArrayRef>) = kept
            .map(|(f, c)| (f.as_ref().clone(), Arc::clone(c)))
            .unzip();
        all_fields.extend(fields);
        all_columns.extend(columns);
        RecordBatch::try_new(Arc::new(Schema::new(all_fields)), all_columns)
            .map_err(|e| RegistryError::Ml(MlError::Data(e.to_string())))
    }
}
