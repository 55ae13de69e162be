//! Model I/O.
