"""The shared bucket: its layout and commit objects, and a read-only view of everything pushed to it."""
