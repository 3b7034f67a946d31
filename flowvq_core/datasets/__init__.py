"""Real training data: datasets prepared into coefficient shards and face frames (``prepare``), what the image
stages draw from them (``face_images``), and the coefficient-corpus file the flow trainers read (``corpus``)."""
