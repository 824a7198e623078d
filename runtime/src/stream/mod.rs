//! Streams at run time: transactions, the component traits, and the running stream.

pub mod component;
pub mod memory_buffer;
pub mod run;
pub mod transaction;

pub use component::{
    process_all, BuildContext, ComponentError, Input, InputSink, Output, Processor, SharedOutput,
    SharedProcessor,
};
pub use run::{BatchPolicy, BufferPlan, RunningStream, StopError, StreamPlan};
pub use transaction::{AckReceiver, AckResult, Acker, Batch, Nack, ResponseStore, Transaction};
