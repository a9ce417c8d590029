"""The edge's side of the mesh: the coordinator client and its bridge to the edge's instances."""
