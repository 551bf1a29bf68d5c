//! Pictures drawn with plotters: plain data in, an SVG string out. Nothing in here knows about
//! signals, the DOM or the network, so every chart can be rendered (and tested) natively.

pub mod equity;
