@_exported import VolSegNN
