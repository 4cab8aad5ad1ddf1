import EdgeLogCore

extension Application {
    /// The sink `sink.type` names.
    func makeSink(compressor: any BatchCompressor) throws -> any Sink {
        FileSink(
            directory: configuration.sinkDirectory, compressor: compressor, level: Int(configuration.batch.compressionLevel))
    }
}
