//! SETTINGS (type 4): count(32), then `count` entries of flags(8)+id(24), value(32).
//! The length must be exactly `4 + 8 * count`, so the count is bounded by the frame
//! length (itself bounded by the decoder) before anything is allocated. Parsed and ignored.

use bytes::{Buf, BufMut, Bytes};

use super::{ControlType, FLAG_CLEAR_SETTINGS, Head, check_flags, wire_len};
use crate::spdy::Error;

/// One SETTINGS entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Per-entry flags (persist / persisted).
    pub flags: u8,
    /// The setting id (24 bits).
    pub id: u32,
    /// The value.
    pub value: u32,
}

/// A SETTINGS frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// FLAG_SETTINGS_CLEAR_SETTINGS.
    pub clear: bool,
    /// The entries, in wire order.
    pub entries: Vec<Setting>,
}

impl Settings {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, mut payload: Bytes) -> Result<Settings, Error> {
        check_flags(&head, FLAG_CLEAR_SETTINGS, "settings with unknown flags")?;
        if payload.len() < 4 {
            return Err(Error::protocol("settings shorter than 4 bytes"));
        }
        let count = payload.get_u32() as usize;
        if count.checked_mul(8) != Some(payload.len()) {
            return Err(Error::protocol("settings count does not match its length"));
        }
        let entries = (0..count)
            .map(|_| {
                let word = payload.get_u32();
                Setting {
                    flags: (word >> 24) as u8,
                    id: word & 0x00ff_ffff,
                    value: payload.get_u32(),
                }
            })
            .collect();
        Ok(Settings {
            clear: head.flags & FLAG_CLEAR_SETTINGS != 0,
            entries,
        })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        let flags = if self.clear { FLAG_CLEAR_SETTINGS } else { 0 };
        let len = wire_len(4 + 8 * self.entries.len());
        Head::control(ControlType::Settings, flags, len).encode(dst);
        dst.put_u32(self.entries.len() as u32);
        for e in &self.entries {
            dst.put_u32((u32::from(e.flags) << 24) | (e.id & 0x00ff_ffff));
            dst.put_u32(e.value);
        }
    }
}
