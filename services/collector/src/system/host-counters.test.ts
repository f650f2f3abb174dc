import { describe, expect, it } from 'vitest';
import { isContainerLink, readHostCounters } from './host-counters.ts';

describe('the host counters', () => {
  it('leave out the links of containers and VMs, which come and go with each pod, and keep the node’s own interfaces', async () => {
    expect(['veth3f2a1b', 'cali1234abcd', 'lxc5678', 'tap0'].filter(isContainerLink)).toEqual(['veth3f2a1b', 'cali1234abcd', 'lxc5678', 'tap0']);
    expect(['eth0', 'ens5', 'lo', 'cni0', 'docker0', 'flannel.1', 'cilium_host', 'wlan0'].filter(isContainerLink)).toEqual([]);
    const counters = await readHostCounters();
    expect(Object.keys(counters.net).filter(isContainerLink)).toEqual([]);
  });
});
