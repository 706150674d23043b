"""Body models (SMPL through smplx, the procedural model), HMR regression, rotations."""
