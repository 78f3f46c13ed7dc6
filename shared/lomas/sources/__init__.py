"""Where datasets live: one folder per source kind (`local`, `s3`, `http`, `postgres`),
behind the `Source` port, found through the contract's registry (`registry.Sources`)."""
