//! Koji's XML-RPC wire dialect (values, faults, codec, `__starstar` kwargs,
//! multicall) and an async client, shared by the hub, builder and benchmark.
//!
//! The codec aims to be byte-compatible with Python's `xmlrpc.client` plus
//! Koji's marshaller so that the stock `koji` CLI talks to us unchanged.

pub mod client;
pub mod decode;
pub mod encode;
pub mod fault;
pub mod kwargs;
pub mod multicall;
pub mod value;

pub use client::{ClientConfig, ClientError, KojiClient, PemFileError};
pub use decode::{DecodeError, Limits, MethodCall, Response, decode_call, decode_response};
pub use encode::{encode_call, encode_fault, encode_response};
pub use fault::{Fault, codes};
pub use kwargs::{join_kwargs, split_kwargs};
pub use multicall::{multicall_fault, multicall_ok, parse_multicall_result};
pub use value::{Struct, Value};
