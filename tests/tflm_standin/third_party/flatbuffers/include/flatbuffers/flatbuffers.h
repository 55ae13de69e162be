// Test stand-in marker (not flatbuffers): its presence makes examples/tflm/Makefile treat this
// directory as a create_tflm_tree.py layout. Nothing includes it.
