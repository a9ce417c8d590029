"""The coordinator: routes mesh messages by label inside a mesh group and aggregates the cross-venue NBBO."""
