#![no_std]
//! TFLM face of the SNAP-UQ ops.
