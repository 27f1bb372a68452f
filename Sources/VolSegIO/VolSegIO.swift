import VolSegCore
@_exported import VolSegCore
