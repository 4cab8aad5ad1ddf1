/// A live file a policy manages, as the scanner found it, with the rotated files beside it.
public struct ManagedFile: Sendable, Equatable {
    /// Absolute path of the live file.
    public var path: String
    /// The rotation root it was found under; nothing above it is ever touched.
    public var root: String
    /// The folders from `root` down to the file's folder (each opened without following a symlink).
    public var components: [String]
    /// The live file's name in its folder.
    public var name: String
    /// Index into the resolved policies.
    public var policy: Int
    public var size: Int64
    public var device: UInt64
    public var inode: UInt64
    /// Rotated files of this live file (regular files only), in no particular order.
    public var rotated: [RotatedFile]
    /// Compression temporaries left by an interrupted pass.
    public var temporaries: [String]
    /// Entries with a rotated file's name that are not regular files (a planted symlink, a folder):
    /// the file is not rotated until someone removes them.
    public var foreign: [String]

    public init(
        path: String, root: String, components: [String], name: String, policy: Int, size: Int64,
        device: UInt64 = 0, inode: UInt64 = 0, rotated: [RotatedFile] = [], temporaries: [String] = [],
        foreign: [String] = []
    ) {
        self.path = path
        self.root = root
        self.components = components
        self.name = name
        self.policy = policy
        self.size = size
        self.device = device
        self.inode = inode
        self.rotated = rotated
        self.temporaries = temporaries
        self.foreign = foreign
    }

    /// The absolute folder of the file.
    public var directory: String {
        components.isEmpty ? root : root + "/" + components.joined(separator: "/")
    }

    /// Live plus rotated bytes.
    public var totalBytes: Int64 { size + rotated.reduce(0) { $0 + $1.size } }
}

/// A rotated file found beside a live file.
public struct RotatedFile: Sendable, Equatable {
    public var name: RotatedName
    /// Its name in the folder.
    public var fileName: String
    public var size: Int64
    /// Last modification, seconds since the epoch (what logrotate's maxage looks at).
    public var modified: Int64

    public init(name: RotatedName, fileName: String, size: Int64, modified: Int64) {
        self.name = name
        self.fileName = fileName
        self.size = size
        self.modified = modified
    }
}

/// What a scan found: the managed files and the problems met on the way.
public struct RotationScan: Sendable, Equatable {
    public var files: [ManagedFile] = []
    /// Problems that are errors (counted): a symlink where a log was expected, a glob reaching outside its root.
    public var problems: [String] = []
    /// Things worth saying that are not errors (a pattern that matched nothing with missingOk).
    public var notes: [String] = []

    public init(files: [ManagedFile] = [], problems: [String] = [], notes: [String] = []) {
        self.files = files
        self.problems = problems
        self.notes = notes
    }
}
