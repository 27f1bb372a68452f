@_exported import VolSegCore
@_exported import VolSegIO
