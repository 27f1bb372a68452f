@_exported import VolSegIO
