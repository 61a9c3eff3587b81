"""Azure Storage layer: store protocols (:mod:`.interfaces`), their Azure Tables/Blobs/Queues
implementations (:mod:`.azure`) and the connection settings (:mod:`.config`)."""
