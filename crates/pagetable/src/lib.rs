//! Page-table designs for ptbench, one module per design, each behind the
//! [`PageTable`](ptbench_core::PageTable) trait; and the spec syntax (`NAME[:key=value,...]`) that
//! names them on the command line.

pub mod flat;
pub mod radix;
pub mod reference;
pub mod spec;

pub use flat::{Flat, FlatConfig};
pub use radix::{Radix, RadixConfig};
pub use reference::Reference;
pub use spec::{
    DesignConfig, DesignInfo, DesignSpec, ParamInfo, ParamValues, ReferenceConfig, SpecError,
    CATALOG,
};
