//! The network-namespace harness itself: a LAN of plain hosts and a macvlan group, processes
//! inside it, and a teardown that leaves nothing behind. Needs root; skipped otherwise unless
//! `HYGIE_REQUIRE_NETNS=1`.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hygie_proto::MacAddr;
use hygie_tests::netns::{self, Host, Lan, MacvlanGroup};
use hygie_tests::wait_until;

/// Whether to run: root, or else skip (or fail when namespaces are required).
fn can_run() -> bool {
    if netns::is_root() {
        return true;
    }
    assert!(
        std::env::var("HYGIE_REQUIRE_NETNS").as_deref() != Ok("1"),
        "HYGIE_REQUIRE_NETNS=1 but these tests need root"
    );
    println!("SKIPPED: needs root");
    false
}

/// A locally administered unicast MAC: 02:48:59:<group>:<index>.
fn mac(group: u8, index: u16) -> MacAddr {
    let [high, low] = index.to_be_bytes();
    MacAddr::new([0x02, 0x48, 0x59, group, high, low])
}

fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    netns::list_namespaces()
        .unwrap()
        .into_iter()
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// IPv4 neighbours (address → MAC) that `namespace` has resolved.
fn neighbours(lan: &Lan, namespace: &str) -> BTreeMap<String, String> {
    let text = lan
        .run_ok(namespace, "ip", &["-4", "neigh", "show", "nud", "all"])
        .unwrap();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|field| *field == "lladdr")?;
            Some((fields[0].to_owned(), fields.get(at + 1)?.to_string()))
        })
        .collect()
}

fn has_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

fn probe(lan: &Lan, from: &Host, to: &Host) {
    assert!(
        lan.udp_probe(&from.namespace, to.ip(), Duration::from_secs(2))
            .unwrap(),
        "{} ({}) cannot reach {} ({})",
        from.name,
        from.address,
        to.name,
        to.address
    );
}

#[test]
fn lan_of_hosts_and_macvlan_group() {
    if !can_run() {
        return;
    }
    let started = Instant::now();
    let mut lan = Lan::new("smoke").unwrap();
    let hosts: Vec<Host> = (1..=3u16)
        .map(|i| {
            lan.add_host(
                &format!("h{i}"),
                mac(0, i),
                &format!("198.18.0.{}/24", 10 + i),
            )
            .unwrap()
        })
        .collect();
    let lan_time = started.elapsed();
    let started = Instant::now();
    let members: Vec<(MacAddr, String)> = (0..50u16)
        .map(|i| (mac(1, i), format!("198.18.0.{}/24", 100 + i)))
        .collect();
    let group: MacvlanGroup = lan.add_macvlan_hosts("group", &members).unwrap();
    let group_time = started.elapsed();
    println!("LAN with 3 hosts: {lan_time:?}; macvlan group of 50: {group_time:?}");
    let prefix = lan.prefix().to_owned();
    assert_eq!(namespaces_with_prefix(&prefix).len(), 5);

    // The bridge: every port attached, STP off, no snooping, IPv6 off so it never speaks.
    let bridge = lan.bridge_namespace().to_owned();
    let details = lan
        .run_ok(&bridge, "ip", &["-d", "link", "show", "br0"])
        .unwrap();
    assert!(details.contains("stp_state 0"), "{details}");
    assert!(details.contains("mcast_snooping 0"), "{details}");
    let ports = lan
        .run_ok(&bridge, "ip", &["-o", "link", "show", "master", "br0"])
        .unwrap();
    for namespace in hosts
        .iter()
        .map(|host| &host.namespace)
        .chain([&group.namespace])
    {
        let port = lan.port_of(namespace).unwrap();
        assert!(port.len() <= 15);
        assert!(ports.contains(&format!(" {port}@")), "{port} in {ports}");
    }
    let bridge_addresses = lan.run_ok(&bridge, "ip", &["-o", "addr"]).unwrap();
    let speaking: Vec<&str> = bridge_addresses
        .lines()
        .filter(|line| !line.contains(" lo "))
        .collect();
    assert!(speaking.is_empty(), "{speaking:?}");

    // A plain host: eth0 with its MAC and address, up, multicast; lo up; IPv6 without DAD.
    let h1 = &hosts[0];
    let link = lan
        .run_ok(&h1.namespace, "ip", &["-o", "link", "show", "eth0"])
        .unwrap();
    assert!(link.contains(&h1.mac_string()), "{link}");
    assert!(link.contains("MULTICAST") && link.contains("UP"), "{link}");
    let lo = lan
        .run_ok(&h1.namespace, "ip", &["-o", "link", "show", "lo"])
        .unwrap();
    assert!(lo.contains("MULTICAST") && lo.contains("UP"), "{lo}");
    let v4 = lan
        .run_ok(&h1.namespace, "ip", &["-o", "-4", "addr", "show", "eth0"])
        .unwrap();
    assert!(v4.contains("198.18.0.11/24"), "{v4}");
    assert_eq!(
        lan.read_sysctl(&h1.namespace, "net.ipv6.conf.eth0.accept_dad")
            .unwrap(),
        "0"
    );
    let v6 = lan
        .run_ok(&h1.namespace, "ip", &["-o", "-6", "addr", "show", "eth0"])
        .unwrap();
    assert!(
        v6.contains("fe80::") && !v6.contains("tentative"),
        "no usable link-local address: {v6}"
    );

    // Plain hosts reach each other.
    for from in &hosts {
        for to in &hosts {
            if from != to {
                probe(&lan, from, to);
            }
        }
    }
    if has_program("ping") {
        let output = lan
            .run(&h1.namespace, "ping", &["-c1", "-W1", "198.18.0.12"])
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    }

    // Every member answers, and h1 resolved each member's address to that member's own MAC:
    // only the member owning an address answers ARP for it.
    for member in &group.hosts {
        probe(&lan, h1, member);
    }
    let seen = neighbours(&lan, &h1.namespace);
    for member in &group.hosts {
        assert_eq!(
            seen.get(&member.ip().to_string()),
            Some(&member.mac_string()),
            "{} in h1's neighbours {seen:?}",
            member.name
        );
    }
    // A member also reaches a plain host, through the group's shared route.
    probe(&lan, &group.hosts[7], &hosts[2]);
    for i in [0, 1, 25, 49] {
        let member = &group.hosts[i];
        for (key, value) in [
            ("arp_ignore", "1"),
            ("arp_announce", "2"),
            ("rp_filter", "0"),
        ] {
            let key = format!("net.ipv4.conf.{}.{key}", member.interface);
            assert_eq!(
                lan.read_sysctl(&group.namespace, &key).unwrap(),
                value,
                "{key}"
            );
        }
    }
    if has_program("arping") {
        // From h2, whose cache is still empty: every reply for a member carries its MAC. Two
        // probes each (a second or so), in parallel; a member answering for others' addresses
        // would show up at once among the replies to the first.
        let h2 = &hosts[1];
        let lan = &lan;
        std::thread::scope(|scope| {
            for i in [3, 31, 48] {
                let member = &group.hosts[i];
                scope.spawn(move || {
                    let ip = member.ip().to_string();
                    let args = ["-c", "2", "-w", "3", "-I", "eth0", ip.as_str()];
                    let output = lan.run(&h2.namespace, "arping", &args).unwrap();
                    let text = String::from_utf8_lossy(&output.stdout).to_lowercase();
                    let replies: Vec<&str> =
                        text.lines().filter(|l| l.contains("reply from")).collect();
                    assert!(!replies.is_empty(), "no ARP reply from {ip}: {text}");
                    for reply in replies {
                        assert!(
                            reply.contains(&format!("[{}]", member.mac_string())),
                            "{ip}: {reply}"
                        );
                    }
                });
            }
        });
    }

    // A management link outside the bridge.
    lan.link(
        &hosts[0].namespace,
        "mgmt0",
        "198.19.0.1/30",
        &hosts[1].namespace,
        "mgmt0",
        "198.19.0.2/30",
    )
    .unwrap();
    assert!(
        lan.udp_probe(
            &hosts[0].namespace,
            "198.19.0.2".parse().unwrap(),
            Duration::from_secs(2)
        )
        .unwrap()
    );
    // Not bridged: h3 has no way to it.
    assert!(
        !lan.udp_probe(
            &hosts[2].namespace,
            "198.19.0.2".parse().unwrap(),
            Duration::from_millis(300)
        )
        .unwrap()
    );

    // A failing `ip` names its command, the failing batch line and ip's complaint.
    let error = lan
        .link(
            &hosts[0].namespace,
            "eth0",
            "198.19.0.5/30",
            &hosts[2].namespace,
            "mgmt1",
            "198.19.0.6/30",
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("link add eth0 type veth") && error.contains("exists"),
        "{error}"
    );

    // Refusals: foreign namespaces, addresses outside 198.18.0.0/15, names too long.
    assert!(lan.run("hygie-1-1-not-ours", "true", &[]).is_err());
    assert!(lan.add_host("h4", mac(0, 4), "10.0.0.4/24").is_err());
    assert!(lan.add_host("h1", mac(0, 9), "198.18.0.19/24").is_err());
    assert!(
        lan.link(
            &hosts[0].namespace,
            "x123456789abcdef",
            "198.19.0.5/30",
            &hosts[1].namespace,
            "y",
            "198.19.0.6/30"
        )
        .is_err()
    );

    // Processes: one spawned and waited for, one left running, one that escapes its process
    // group (setsid): the teardown must kill all of them.
    let mut command = lan.command(&hosts[2].namespace, "sh").unwrap();
    command
        .args(["-c", "ip -o link show eth0; exit 3"])
        .stdout(Stdio::piped());
    let mut quick = lan.spawn(command).unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut quick.take_stdout().unwrap(), &mut stdout).unwrap();
    assert!(stdout.contains(&hosts[2].mac_string()), "{stdout}");
    let status = quick
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(3));

    let mut command = lan.command(&group.namespace, "sleep").unwrap();
    command.arg("600");
    let mut sleeper = lan.spawn(command).unwrap();
    assert!(sleeper.is_running());
    let mut command = lan.command(&hosts[1].namespace, "sleep").unwrap();
    command.arg("600");
    let mut terminated = lan.spawn(command).unwrap();
    let status = terminated.terminate(Duration::from_secs(5)).unwrap();
    assert!(!status.success());

    let escaped: Option<u32> = has_program("setsid").then(|| {
        let text = lan
            .run_ok(
                &hosts[0].namespace,
                "sh",
                &[
                    "-c",
                    "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!",
                ],
            )
            .unwrap();
        text.trim().parse().unwrap()
    });
    if let Some(pid) = escaped {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    let missing = lan
        .command(&hosts[0].namespace, "no-such-program-hygie")
        .unwrap();
    assert!(lan.spawn(missing).is_err());

    let started = Instant::now();
    drop(lan);
    println!("teardown: {:?}", started.elapsed());
    assert!(
        !sleeper.is_running(),
        "the LAN's drop left a process running"
    );
    if let Some(pid) = escaped {
        assert!(
            wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
                !std::path::Path::new(&format!("/proc/{pid}")).exists()
            }),
            "the escaped process {pid} survived"
        );
    }
    assert_eq!(namespaces_with_prefix(&prefix), Vec::<String>::new());
}

#[test]
fn lan_is_removed_when_a_test_panics() {
    if !can_run() {
        return;
    }
    let prefix = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut lan = Lan::new("panics").unwrap();
        *prefix.lock().unwrap() = lan.prefix().to_owned();
        let host = lan.add_host("h", mac(3, 1), "198.18.1.1/24").unwrap();
        let mut command = lan.command(&host.namespace, "sleep").unwrap();
        command.arg("600");
        let _child = lan.spawn(command).unwrap();
        panic!("deliberate panic with a LAN alive");
    }));
    assert!(result.is_err());
    let prefix = prefix.into_inner().unwrap();
    assert!(prefix.starts_with("hygie-"));
    assert_eq!(namespaces_with_prefix(&prefix), Vec::<String>::new());
}

#[test]
fn thousand_macvlan_hosts() {
    if !can_run() {
        return;
    }
    let mut lan = Lan::new("bulk").unwrap();
    let prober = lan
        .add_host("prober", mac(4, 0), "198.18.7.254/22")
        .unwrap();
    let members: Vec<(MacAddr, String)> = (0..1000u16)
        .map(|i| {
            (
                mac(5, i),
                format!("198.18.{}.{}/22", 4 + i / 250, 1 + i % 250),
            )
        })
        .collect();
    let started = Instant::now();
    let group = lan.add_macvlan_hosts("bulk", &members).unwrap();
    let elapsed = started.elapsed();
    println!("created 1,000 macvlan hosts in {elapsed:?}");
    assert_eq!(group.hosts.len(), 1000);
    let listed = lan
        .run_ok(
            &group.namespace,
            "ip",
            &["-o", "link", "show", "type", "macvlan"],
        )
        .unwrap();
    assert_eq!(listed.lines().count(), 1000);
    for i in [0, 499, 999] {
        probe(&lan, &prober, &group.hosts[i]);
    }
    let seen = neighbours(&lan, &prober.namespace);
    for i in [0, 499, 999] {
        let member = &group.hosts[i];
        assert_eq!(
            seen.get(&member.ip().to_string()),
            Some(&member.mac_string())
        );
    }
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    let prefix = lan.prefix().to_owned();
    let started = Instant::now();
    lan.close().unwrap();
    println!("deleted them in {:?}", started.elapsed());
    assert_eq!(namespaces_with_prefix(&prefix), Vec::<String>::new());
}
