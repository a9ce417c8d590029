//! A small, dependency-free subset of the `bytemuck` crate's API, so that message code such as
//! `bytemuck::bytes_of(fill)` / `bytemuck::from_bytes::<Fill>(payload)` works unchanged.
//!
//! `Pod` is implemented for the ABI structs that have no interior mutability and no implicit
//! padding. Implement it for your own message structs only if they are `#[repr(C)]`, `Copy`,
//! contain only `Pod` fields and have no padding bytes (add explicit `_pad` fields).

use core::mem::{align_of, size_of};

use crate::abi::*;

/// Types for which the all-zero bit pattern is a valid value.
///
/// # Safety
/// Only implement for types where every field accepts all-zero bytes.
pub unsafe trait Zeroable: Sized {
    fn zeroed() -> Self {
        unsafe { core::mem::zeroed() }
    }
}

/// "Plain old data": any bit pattern is valid and there are no padding bytes.
///
/// # Safety
/// Only implement for `#[repr(C)]` `Copy` types made of `Pod` fields without padding.
pub unsafe trait Pod: Zeroable + Copy + 'static {}

macro_rules! pod {
    ($($t:ty),*) => { $( unsafe impl Zeroable for $t {} unsafe impl Pod for $t {} )* };
}
pod!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);
pod!(Level, L2Book, OnlineFeatures, Fill, Reject, Nbbo, Position, OpenOrder, Action, Message);
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// Why a byte slice cannot be viewed as a `T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodCastError {
    SizeMismatch,
    TargetAlignmentGreaterAndInputNotAligned,
}

/// The bytes of `value`.
pub fn bytes_of<T: Pod>(value: &T) -> &[u8] {
    unsafe { core::slice::from_raw_parts(value as *const T as *const u8, size_of::<T>()) }
}

/// The bytes of `value`, writable.
pub fn bytes_of_mut<T: Pod>(value: &mut T) -> &mut [u8] {
    unsafe { core::slice::from_raw_parts_mut(value as *mut T as *mut u8, size_of::<T>()) }
}

/// Views `bytes` as a `T`; fails on a length mismatch or a misaligned slice.
pub fn try_from_bytes<T: Pod>(bytes: &[u8]) -> Result<&T, PodCastError> {
    if bytes.len() != size_of::<T>() {
        Err(PodCastError::SizeMismatch)
    } else if bytes.as_ptr() as usize % align_of::<T>() != 0 {
        Err(PodCastError::TargetAlignmentGreaterAndInputNotAligned)
    } else {
        Ok(unsafe { &*(bytes.as_ptr() as *const T) })
    }
}

/// Views `bytes` as a `T`; panics on a length mismatch or a misaligned slice (like bytemuck).
/// Message payloads handed to `on_message` are 8-byte aligned.
pub fn from_bytes<T: Pod>(bytes: &[u8]) -> &T {
    match try_from_bytes(bytes) {
        Ok(value) => value,
        Err(e) => panic!("from_bytes: {:?}", e),
    }
}

/// Copies a `T` out of `bytes` regardless of alignment; `None` on a length mismatch.
pub fn try_pod_read_unaligned<T: Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() != size_of::<T>() {
        return None;
    }
    Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const T) })
}

/// Copies a `T` out of `bytes` regardless of alignment; panics on a length mismatch.
pub fn pod_read_unaligned<T: Pod>(bytes: &[u8]) -> T {
    match try_pod_read_unaligned(bytes) {
        Some(value) => value,
        None => panic!("pod_read_unaligned: size mismatch"),
    }
}

/// An all-zero `T`.
pub fn zeroed<T: Zeroable>() -> T {
    T::zeroed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_round_trips_through_its_48_bytes() {
        let fill = Fill { order_id: 9, px_1e8: 100, qty_1e8: 5, side: SIDE_SELL, flags: 3, ..Fill::ZERO };
        let bytes = bytes_of(&fill);
        assert_eq!(bytes.len(), 48);
        assert_eq!(&bytes[0..8], &9u64.to_le_bytes());
        assert_eq!(bytes[42], SIDE_SELL);
        let mut copy = [0u64; 6]; // 8-aligned storage
        bytes_of_mut(&mut copy).copy_from_slice(bytes);
        assert_eq!(from_bytes::<Fill>(bytes_of(&copy)), &fill);
        assert_eq!(pod_read_unaligned::<Fill>(bytes), fill);
    }

    #[test]
    fn wrong_sizes_and_misaligned_slices_are_refused() {
        let storage = [0u64; 7];
        let bytes = bytes_of(&storage);
        assert_eq!(try_from_bytes::<Fill>(&bytes[..47]), Err(PodCastError::SizeMismatch));
        assert_eq!(
            try_from_bytes::<Fill>(&bytes[1..49]),
            Err(PodCastError::TargetAlignmentGreaterAndInputNotAligned)
        );
        assert!(try_pod_read_unaligned::<Fill>(&bytes[1..49]).is_some());
    }
}
