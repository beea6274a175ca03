"""Code that runs inside the Rasa server: channels and stores. It may import ``rasa``."""
