"""The toolkit's own task, on which its tests check the machinery: a point in the plane
moving towards a goal, learnt from an expert that covers a fifth of the distance at
every step.

The toolkit's tests copy this project, put these files in place of your model.py,
data_loader.py and losses.py, and train them with your train.py and schema.py. They
never depend on your task: change your files as you like, these stay as they are.
"""
