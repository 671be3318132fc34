"""Read models of another context's published facts that several services keep alike.

Each service keeps its own copy, in its own schema, fed by its own durable consumer: no
service reads another's tables.
"""
