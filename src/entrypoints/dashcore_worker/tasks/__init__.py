"""dashcore's tasks, one module per capability. Every module here is imported by
:func:`dashcore_worker.registry.load_tasks`: a new module registers its tasks with no other edit."""
