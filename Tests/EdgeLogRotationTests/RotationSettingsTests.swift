import EdgeLogCore
import EdgeLogRotation
import Testing

@Suite struct RotationSettingsTests {
    func parse(_ text: String) -> (RotationSettings, [String]) {
        let (config, problems) = Configuration.parse(text: Array(text.utf8))
        return (config.rotation, problems.map(\.description))
    }

    @Test func defaultsAreMicrosoftsChecklist() {
        let (s, problems) = parse("{}")
        #expect(problems.isEmpty)
        let p = s.policy
        #expect(!s.enabled && s.checkIntervalSeconds == 60 && s.roots.isEmpty && s.maxTotalBytes == 0 && s.policies.isEmpty)
        #expect(p.paths.isEmpty && p.schedule == "daily" && p.maxSize == 0 && p.minSize == 0)
        #expect(p.rotate == 7 && p.maxAgeDays == 7 && p.compress && p.compressionLevel == 6 && p.delayCompress)
        #expect(p.copyTruncate && p.notIfEmpty && p.missingOk && !p.dateExt)
        #expect(
            s.effectivePolicies(containersDirectory: "/var/lib/docker/containers").map(\.paths)
                == [["/var/lib/docker/containers/*/*-json.log"]])
    }

    @Test func jsonListsEveryKeyAndRoundTrips() throws {
        let text = #"""
            {"rotation": {"enabled": true, "checkIntervalSeconds": 30, "roots": ["/var/log"], "maxTotalBytes": "1GiB",
              "paths": ["/var/log/app/*.log"], "schedule": "hourly", "maxSize": "10M", "minSize": 1024, "rotate": 3,
              "maxAgeDays": 2, "compress": false, "compressionLevel": 9, "delayCompress": false, "copyTruncate": false,
              "notIfEmpty": false, "missingOk": false, "dateExt": true,
              "policies": [{"paths": ["/var/log/other/*.txt"], "rotate": 1, "maxTotalBytes": 5000}]}}
            """#
        let (s, problems) = parse(text)
        #expect(problems.isEmpty, "\(problems)")
        let keys = s.json.objectValue!.map(\.0)
        #expect(
            keys == [
                "enabled", "checkIntervalSeconds", "roots", "maxTotalBytes", "paths", "schedule", "maxSize", "minSize",
                "rotate", "maxAgeDays", "compress", "compressionLevel", "delayCompress", "copyTruncate", "notIfEmpty",
                "missingOk", "dateExt", "policies",
            ])
        #expect(s.maxTotalBytes == 1 << 30 && s.policy.maxSize == 10 << 20 && s.policy.schedule == "hourly")
        // A policy inherits the section's keys and overrides what it gives.
        let child = s.policies[0]
        #expect(child.rotate == 1 && child.maxTotalBytes == 5000 && child.dateExt && child.schedule == "hourly" && !child.compress)
        // The full document parses back to the same settings.
        let (reparsed, problems2) = Configuration.parse(.object([("rotation", s.json)]))
        #expect(problems2.isEmpty)
        #expect(reparsed.rotation == s)
    }

    @Test func aSizeAloneMeansSizeOnly() {
        #expect(parse(#"{"rotation": {"maxSize": "100MB"}}"#).0.policy.schedule == "none")
        #expect(parse(#"{"rotation": {"maxSize": "100MB", "schedule": "weekly"}}"#).0.policy.schedule == "weekly")
        let (s, _) = parse(#"{"rotation": {"paths": ["/a/*.log"], "policies": [{"paths": ["/b/*.log"], "maxSize": 5000}]}}"#)
        #expect(s.policy.schedule == "daily")
        #expect(s.policies[0].schedule == "none")
    }

    @Test func errorsCarryTheKeyPathAndAFix() {
        let (_, problems) = parse(
            #"""
            {"rotation": {"rotate": -1, "schedule": "monthly", "compressionLevel": 0, "maxSize": "lots",
              "paths": ["logs/*.log", "/var/log/../../etc/*", "/*.log", "/var/log/"], "roots": ["rel"], "colour": 1,
              "policies": [{"rotate": 2}, {"paths": ["/x/*.log"], "copytruncate": true}, 7]}}
            """#)
        #expect(problems.contains("rotation.rotate: -1 is under the minimum of 0; use at least 0"))
        #expect(problems.contains(#"rotation.schedule: "monthly" is not a known value; use one of "hourly", "daily", "weekly", "none""#))
        #expect(problems.contains("rotation.compressionLevel: 0 is under the minimum of 1; use at least 1"))
        #expect(problems.contains { $0.hasPrefix(#"rotation.maxSize: "lots" is not a size"#) })
        #expect(problems.contains { $0.hasPrefix(#"rotation.paths[0]: "logs/*.log" is a relative path; give an absolute glob"#) })
        #expect(problems.contains { $0.hasPrefix(#"rotation.paths[1]: "/var/log/../../etc/*" has a "." or ".." component"#) })
        #expect(problems.contains { $0.hasPrefix(#"rotation.paths[2]: "/*.log" has no fixed folder to confine it"#) })
        #expect(problems.contains { $0.hasPrefix(#"rotation.paths[3]: "/var/log/" names a folder"#) })
        #expect(problems.contains { $0.hasPrefix(#"rotation.roots[0]: "rel" is a relative path"#) })
        #expect(problems.contains { $0.hasPrefix("rotation.colour: is not a known key") })
        #expect(problems.contains("rotation.policies[0].paths: is missing or empty; give the globs of the files this policy manages"))
        #expect(problems.contains { $0.hasPrefix("rotation.policies[1].copytruncate: is not a known key; remove it or use one of:") })
        #expect(problems.contains("rotation.policies[2]: is a number; give an object"))
    }

    @Test func aGlobOutsideTheRootsIsRefused() {
        let (_, problems) = parse(
            #"{"rotation": {"roots": ["/var/log"], "paths": ["/var/log/app/*.log"], "policies": [{"paths": ["/etc/*.conf"]}]}}"#)
        #expect(
            problems == [
                "rotation.policies[0].paths[0]: \"/etc/*.conf\" reaches outside rotation.roots (/var/log); add its folder /etc to rotation.roots or change the pattern"
            ])
    }

    @Test func rootsAreTheFixedPrefixes() {
        #expect(RotationSettings.fixedPrefix(of: "/var/lib/docker/containers/*/*-json.log") == "/var/lib/docker/containers")
        #expect(RotationSettings.fixedPrefix(of: "/var/log/app.log") == "/var/log")
        #expect(RotationSettings.fixedPrefix(of: "/var/log/app-[0-9]/x.log") == "/var/log")
        var s = RotationSettings()
        #expect(s.allowedRoots(containersDirectory: "/c").isEmpty)
        s.roots = ["/var/log"]
        #expect(s.allowedRoots(containersDirectory: "/c") == ["/var/log", "/c"])
    }
}
