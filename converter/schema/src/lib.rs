#![no_std]
//! TFLite schema.
