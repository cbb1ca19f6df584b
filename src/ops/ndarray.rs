//! Conversion to and from `ndarray` arrays.

use crate::array::{Array, Element};
use crate::core::Tensor;
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};

impl<T: Element> From<ArrayD<T>> for Tensor {
    /// Copies the elements of an `ndarray` array (any layout) into a new tensor.
    fn from(a: ArrayD<T>) -> Tensor {
        let shape = a.shape().to_vec();
        let data: Vec<T> = a.iter().copied().collect();
        Tensor::from_array(Array::from_vec(data, &shape))
    }
}

impl Tensor {
    /// A new `ndarray` array with this tensor's elements (`T` must be its element type).
    ///
    /// ```
    /// use functorch::Tensor;
    /// let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let a = t.to_ndarray::<f64>()?;
    /// assert_eq!(a[[1, 0]], 3.0);
    /// let back = Tensor::from(a);
    /// assert_eq!(back.to_vec::<f64>()?, vec![1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
        let v = self.to_vec::<T>()?;
        ArrayD::from_shape_vec(IxDyn(self.shape()), v)
            .map_err(|e| Error::invalid("to_ndarray", e.to_string()))
    }
}
