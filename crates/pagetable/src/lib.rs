//! Page-table designs for ptbench, one module per design, each behind the
//! [`PageTable`](ptbench_core::PageTable) trait; and the spec syntax (`NAME[:key=value,...]`) that
//! names them on the command line.

pub mod ecpt;
pub mod flat;
pub mod hashed;
pub mod inverted;
pub mod nested;
pub mod radix;
pub mod reference;
pub mod spec;

pub use ecpt::{Ecpt, EcptConfig};
pub use flat::{Flat, FlatConfig};
pub use hashed::{Hashed, HashedConfig};
pub use inverted::{Inverted, InvertedConfig};
pub use nested::{HostPolicy, Nested, NestedConfig};
pub use radix::{Radix, RadixConfig};
pub use reference::Reference;
pub use spec::{
    closest, DesignConfig, DesignInfo, DesignSpec, ParamInfo, ParamValues, ReferenceConfig,
    SpecError, CATALOG,
};
