//! Table-driven tests of the engine: rules, presets and the firms worked examples.
