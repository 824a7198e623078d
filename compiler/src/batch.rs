//! Where the message being evaluated sits in its batch: what `batch_index()` and
//! `batch_size()` return. The processor running a mapping over a batch sets it around each
//! message; outside of one, a message is the only one of its batch.

use std::cell::Cell;

thread_local! {
    static POSITION: Cell<(usize, usize)> = const { Cell::new((0, 1)) };
}

/// While alive, the message being evaluated on this thread is at a given position; dropping
/// it restores the previous one.
pub struct Position((usize, usize));

impl Position {
    /// The message being evaluated is at `index` of a batch of `size`.
    pub fn enter(index: usize, size: usize) -> Position {
        Position(POSITION.with(|p| p.replace((index, size))))
    }
}

impl Drop for Position {
    fn drop(&mut self) {
        POSITION.with(|p| p.set(self.0));
    }
}

/// Runs `f` with the message being evaluated at `index` of a batch of `size`.
pub fn with_position<R>(index: usize, size: usize, f: impl FnOnce() -> R) -> R {
    let _position = Position::enter(index, size);
    f()
}

/// The index of the message being evaluated in its batch, and the batch's size.
pub fn position() -> (usize, usize) {
    POSITION.with(Cell::get)
}
