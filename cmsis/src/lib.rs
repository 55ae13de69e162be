#![no_std]
//! CMSIS-NN bindings and DSP paths.
