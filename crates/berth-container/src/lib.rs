//! The OCI runtime library: turns a bundle into an isolated process (berth's libcontainer).
