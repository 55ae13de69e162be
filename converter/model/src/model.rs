//! The [`Model`] wrapper: an owned TFLite model tree plus how its file stored constant data.
use crate::io::{self, Layout};
use crate::{check, ModelError};
use snapuq_schema::tflite::ModelT;
use std::path::Path;

/// An owned, editable TFLite model. Reading and writing are lossless (see [`crate::io`]); the
/// query and edit methods work on subgraph 0, the model's main graph, which is what TFLM runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub(crate) t: ModelT,
    pub(crate) layout: Layout,
}

impl Model {
    /// Parses a `.tflite` image: flatbuffer verification before any offset is trusted, the
    /// "TFL3" identifier, known union types, data appended after the flatbuffer, and index
    /// integrity. Does not check that snapuq can execute it: see [`Model::validate`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let (t, layout) = io::parse(bytes)?;
        check::structure(&t)?;
        Ok(Model { t, layout })
    }

    /// [`Model::from_bytes`] on a file's contents.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|io| ModelError::Read {
            path: path.to_path_buf(),
            io,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Wraps a model tree built or edited elsewhere, after the index integrity check.
    pub fn from_object(t: ModelT) -> Result<Self, ModelError> {
        check::structure(&t)?;
        Ok(Model {
            t,
            layout: Layout::default(),
        })
    }

    /// Serialises to `.tflite` bytes with the "TFL3" identifier.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        check::structure(&self.t)?;
        io::serialize(&self.t, self.layout)
    }

    /// Writes the model to `path` atomically (a temporary file in the same folder, then a
    /// rename), so a failed write never leaves a half-written model behind.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        let werr = |io| ModelError::Write {
            path: path.to_path_buf(),
            io,
        };
        let name = path
            .file_name()
            .ok_or_else(|| werr(std::io::Error::other("path has no file name")))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        std::fs::write(&tmp, &bytes).map_err(werr)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            werr(e)
        })
    }

    /// The owned schema tree (read-only).
    pub fn object(&self) -> &ModelT {
        &self.t
    }

    /// The owned schema tree for edits the typed API does not cover. Index integrity is
    /// re-checked by [`Model::to_bytes`] and [`Model::validate`].
    pub fn object_mut(&mut self) -> &mut ModelT {
        &mut self.t
    }

    /// Gives up the wrapper.
    pub fn into_object(self) -> ModelT {
        self.t
    }

    /// How the source file stored constant data.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Chooses whether buffers are written after the flatbuffer (`Buffer.offset/size`) or
    /// inline. Models over ~1.75 GiB of constants are always written appended.
    pub fn set_appended_buffers(&mut self, appended: bool) {
        self.layout.appended_buffers = appended;
    }
}
