"""The suite: real KLUE slices, a real local Ray, real MLflow stores and servers; shared
helpers in ``tests.helpers``, injected faults in ``tests.faults``."""
