"""The ``pbr`` command: parses arguments and formats results, nothing more."""
