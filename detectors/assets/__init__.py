"""Binary asset datasets (images, audio, any files): finding the files safely, reading and
decoding each one in a bounded worker, and searching perceptual hashes for near copies.

Pillow and ImageHash come with the `assets` extra, soundfile with `audio`; the modules
import them when a file is decoded, so a config that names no asset dataset never needs them.
"""
