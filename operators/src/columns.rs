//! Arrow columns as plain numbers, for the operators that compute on them (validation,
//! preparation, training).

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::error::ArrowError;

/// A column as floats: integers, floats and dates (days since the epoch); nulls are NaN.
///
/// # Errors
/// Arrow's error when the type does not convert to a number.
pub(crate) fn floats(col: &dyn Array) -> Result<Vec<f64>, ArrowError> {
    let floats = match col.data_type() {
        DataType::Date32 => cast(&cast(col, &DataType::Int32)?, &DataType::Float64)?,
        _ => cast(col, &DataType::Float64)?,
    };
    let floats = floats.as_primitive::<Float64Type>();
    Ok(if floats.null_count() == 0 {
        floats.values().to_vec()
    } else {
        floats.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Float32Array, Int32Array};

    #[test]
    fn numbers_of_any_width_and_dates() {
        let ints = Int32Array::from(vec![Some(1), None, Some(-3)]);
        let f = floats(&ints).unwrap();
        assert_eq!((f[0], f[2]), (1.0, -3.0));
        assert!(f[1].is_nan());
        assert_eq!(floats(&Float32Array::from(vec![0.5f32])).unwrap(), [0.5]);
        assert_eq!(
            floats(&Date32Array::from(vec![20_000])).unwrap(),
            [20_000.0]
        );
    }
}
